// The package's joint structural model (models/structural.toml, grassroots.models.build_model)
// in Stan, with the same priors and the same unconstrained coordinates as the PyMC model:
//
//   outcomes (this order): 1 survival, 2 demand_fit, 3 extensive, 4 expedient, 5 short_sighted
//   eta_o = X_o beta_o + county effect_o + township effect_o   (X_o centred, as build_model)
//
// * survival: proportional hazards, piecewise-constant baseline (a random walk over intervals at
//   the average profile), right censoring, a late effect of short_sighted from month 12;
// * demand_fit: cumulative logit with ordered cut points; rows with a missing rating are not in
//   its data (they still inform the other outcomes);
// * extensive, expedient, short_sighted: logistic;
// * county effects: one HalfNormal SD per outcome times zero-sum standard normals;
// * township effects: correlated across the five outcomes, LKJ-Cholesky covariance (PyMC's
//   LKJCholeskyCov: packed Cholesky factor of the covariance, log diagonal), times zero-sum
//   standard normals (non-centred).
//
// The zero-sum standard normals are sampled as PyMC samples them: n - 1 free reals with a
// standard normal prior, extended to n values by PyMC's ZeroSumTransform (an isometry). Stan's
// own sum_to_zero_vector is an isometry too but onto other coordinates; PyMC's keeps the
// unconstrained spaces identical, so log densities can be compared point by point.
functions {
  // PyMC's ZeroSumTransform.backward (extend_axis): R^(n-1) -> {x in R^n : sum(x) = 0}.
  vector zerosum_extend(vector y) {
    real n = num_elements(y) + 1;
    real total = sum(y);
    real norm = total / (sqrt(n) + n);
    return append_row(y, norm - total / sqrt(n)) - norm;
  }
}
data {
  int<lower=1> K;  // outcomes (5)
  int<lower=2> C;  // counties
  int<lower=2> T;  // townships

  // survival
  int<lower=0> N_s;
  int<lower=0> P_s;
  int<lower=1> J;  // baseline intervals
  int<lower=0> L_s;  // late (time-varying) terms
  matrix[N_s, P_s] X_s;
  array[N_s] int<lower=1, upper=C> county_s;
  array[N_s] int<lower=1, upper=T> township_s;
  vector<lower=0, upper=1>[N_s] event_s;
  array[N_s] int<lower=1, upper=J> interval_s;
  matrix<lower=0>[N_s, J] exposure_early;  // time in each interval before the onset
  matrix<lower=0>[N_s, J] exposure_late;  // ... and after it
  matrix[N_s, L_s] late_design;
  vector<lower=0, upper=1>[N_s] late_end;  // 1 where the time lies after the onset

  // demand fit (ordinal)
  int<lower=0> N_d;
  int<lower=0> P_d;
  int<lower=2> Kd;
  matrix[N_d, P_d] X_d;
  array[N_d] int<lower=1, upper=C> county_d;
  array[N_d] int<lower=1, upper=T> township_d;
  array[N_d] int<lower=1, upper=Kd> y_d;

  // extensive (e), expedient (x), short_sighted (h): logistic
  int<lower=0> N_e;
  int<lower=0> P_e;
  matrix[N_e, P_e] X_e;
  array[N_e] int<lower=1, upper=C> county_e;
  array[N_e] int<lower=1, upper=T> township_e;
  array[N_e] int<lower=0, upper=1> y_e;
  int<lower=0> N_x;
  int<lower=0> P_x;
  matrix[N_x, P_x] X_x;
  array[N_x] int<lower=1, upper=C> county_x;
  array[N_x] int<lower=1, upper=T> township_x;
  array[N_x] int<lower=0, upper=1> y_x;
  int<lower=0> N_h;
  int<lower=0> P_h;
  matrix[N_h, P_h] X_h;
  array[N_h] int<lower=1, upper=C> county_h;
  array[N_h] int<lower=1, upper=T> township_h;
  array[N_h] int<lower=0, upper=1> y_h;

  // priors (grassroots.models.priors, resolved for the spec); coefficients' priors are
  // autoscaled per design column (stated per SD of the term), so they come one per column
  vector[P_s] beta_s_mu;
  vector<lower=0>[P_s] beta_s_sigma;
  vector[L_s] beta_late_mu;
  vector<lower=0>[L_s] beta_late_sigma;
  vector[P_d] beta_d_mu;
  vector<lower=0>[P_d] beta_d_sigma;
  vector[P_e] beta_e_mu;
  vector<lower=0>[P_e] beta_e_sigma;
  vector[P_x] beta_x_mu;
  vector<lower=0>[P_x] beta_x_sigma;
  vector[P_h] beta_h_mu;
  vector<lower=0>[P_h] beta_h_sigma;
  real intercept_mu;
  real<lower=0> intercept_sigma;
  int<lower=0, upper=1> cut_dirichlet;  // 1: induced Dirichlet(cut_alpha), 0: Normal each
  real<lower=0> cut_alpha;
  real cut_mu;
  real<lower=0> cut_sigma;
  real lh_mu;
  real<lower=0> lh_sigma;
  real step_mu;
  real<lower=0> step_sigma;
  real<lower=0> sd_county_sigma;
  real<lower=0> sd_township_sigma;
  real<lower=0> lkj_eta;
}
transformed data {
  int n_packed = K * (K + 1) %/% 2;
}
parameters {
  vector<lower=0>[K] sd_county;
  array[K] vector[C - 1] z_county_unc;
  vector[n_packed] township_chol_unc;
  matrix[K, T - 1] township_z_unc;

  vector[P_s] beta_s;
  vector[L_s] beta_late;
  real lh_start;  // first interval's log hazard, average profile
  vector[J - 1] lh_steps;

  vector[P_d] beta_d;
  ordered[Kd - 1] cut_d;  // average profile

  vector[P_e] beta_e;
  real int_e;
  vector[P_x] beta_x;
  real int_x;
  vector[P_h] beta_h;
  real int_h;
}
model {
  // County effects (C x K).
  matrix[C, K] county_effect;
  for (k in 1:K) {
    county_effect[:, k] = sd_county[k] * zerosum_extend(z_county_unc[k]);
  }

  // Township effects (T x K): L z, L the Cholesky factor of the covariance.
  matrix[K, K] chol = rep_matrix(0, K, K);
  {
    int pos = 1;
    for (i in 1:K) {
      for (j in 1:i) {
        chol[i, j] = i == j ? exp(township_chol_unc[pos]) : township_chol_unc[pos];
        pos += 1;
      }
    }
  }
  matrix[K, T] z_township;
  for (k in 1:K) {
    z_township[k] = zerosum_extend(township_z_unc[k]')';
  }
  matrix[T, K] township_effect = (chol * z_township)';

  // LKJCholeskyCov(n=K, eta, sd_dist=HalfNormal) as PyMC writes its density of the packed
  // factor, plus the log-diagonal transform's Jacobian.
  {
    vector[K] sds = sqrt(rows_dot_self(chol));
    vector[K] log_corr_diag = log(diagonal(chol)) - log(sds);
    target += normal_lupdf(sds | 0, sd_township_sigma);
    for (i in 1:K) {
      target += (2 * lkj_eta - 3 + K - (i - 1)) * log_corr_diag[i];
      target += log_corr_diag[i] - (i - 1) * log(sds[i]);
    }
    target += sum(log(diagonal(chol)));
  }

  sd_county ~ normal(0, sd_county_sigma);
  for (k in 1:K) {
    z_county_unc[k] ~ std_normal();
  }
  to_vector(township_z_unc) ~ std_normal();

  beta_s ~ normal(beta_s_mu, beta_s_sigma);
  beta_late ~ normal(beta_late_mu, beta_late_sigma);
  lh_start ~ normal(lh_mu, lh_sigma);
  lh_steps ~ normal(step_mu, step_sigma);
  beta_d ~ normal(beta_d_mu, beta_d_sigma);
  if (cut_dirichlet) {
    // grassroots.models.priors: Dirichlet(cut_alpha) on the category probabilities of a
    // logistic at 0, times the Jacobian prod q (1 - q) of cut points -> probabilities.
    vector[Kd - 1] q = inv_logit(cut_d);
    vector[Kd] p = append_row(q, 1) - append_row(0, q);
    target += dirichlet_lpdf(p | rep_vector(cut_alpha, Kd));
    target += sum(log_inv_logit(cut_d) + log1m_inv_logit(cut_d));
  } else {
    cut_d ~ normal(cut_mu, cut_sigma);
  }
  beta_e ~ normal(beta_e_mu, beta_e_sigma);
  beta_x ~ normal(beta_x_mu, beta_x_sigma);
  beta_h ~ normal(beta_h_mu, beta_h_sigma);
  int_e ~ normal(intercept_mu, intercept_sigma);
  int_x ~ normal(intercept_mu, intercept_sigma);
  int_h ~ normal(intercept_mu, intercept_sigma);

  // Survival: log h = log h0[interval] + eta (+ late eta after the onset);
  // H = exp(eta) (H0 before the onset + exp(late eta) H0 after it).
  {
    vector[J] log_hazard = lh_start + append_row(0, cumulative_sum(lh_steps));
    vector[J] rate = exp(log_hazard);
    vector[N_s] eta = X_s * beta_s + county_effect[county_s, 1] + township_effect[township_s, 1];
    vector[N_s] late_eta = late_design * beta_late;
    target += dot_product(event_s, log_hazard[interval_s] + eta + late_eta .* late_end)
              - dot_product(exp(eta),
                            exposure_early * rate + exp(late_eta) .* (exposure_late * rate));
  }

  y_d ~ ordered_logistic(
    X_d * beta_d + county_effect[county_d, 2] + township_effect[township_d, 2], cut_d);

  y_e ~ bernoulli_logit_glm(X_e, int_e + county_effect[county_e, 3]
                                 + township_effect[township_e, 3], beta_e);
  y_x ~ bernoulli_logit_glm(X_x, int_x + county_effect[county_x, 4]
                                 + township_effect[township_x, 4], beta_x);
  y_h ~ bernoulli_logit_glm(X_h, int_h + county_effect[county_h, 5]
                                 + township_effect[township_h, 5], beta_h);
}
