"""The joint structural model's log density and its analytic gradient, in plain numpy.

The yardstick of ``logp_grad.py`` (issue 6: one log-density-and-gradient evaluation within 2x of
a hand-written numpy version). Same density, term by term, as ``structural.stan`` and
``numpyro_model.py``, on PyMC's unconstrained coordinates (see :mod:`common`: zero-sum transform,
PyMC's packed LKJ-Cholesky covariance with its Jacobian, log SDs, ordered cut points), read from
the design that :func:`common.export_design` writes. Normalising constants are left out, so the
log density differs from PyMC's by a constant; the gradient is PyMC's.

The gradient is written out by hand (reverse mode, term by term): no autodiff and no finite
differences. Data-only quantities (event counts per interval, category counts) are computed once
in the constructor. Every outcome's linear predictor lives in one stacked vector, so the group
effects are gathered with one ``take`` and their gradients scattered back with one ``bincount``
each for counties and townships. The stacked vectors are buffers of the instance, reused by
every call: one instance per thread.

The flat parameter vector follows PyMC's ``model.value_vars`` order with PyMC's names
(:attr:`NumpyModel.layout`), so a PyMC point maps onto it by name (:meth:`NumpyModel.flatten`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from common import LOGISTIC, OUTCOMES

# Outcome tags of the exported design, in OUTCOMES order (township effects' columns).
TAGS = ("s", "d", *LOGISTIC.values())
# Order of the outcomes' rows in the stacked linear predictor: the outcomes observed on every row
# first (survival and the logistic ones, usually), so their block is one (4, N) matrix.
STACK = ("s", *LOGISTIC.values(), "d")


class NumpyModel:
    """Log density and gradient of the structural model for one exported design.

    Parameters
    ----------
    design : mapping
        :func:`common.load_design` of ``design.npz`` (1-based group codes, as Stan reads them).
    merge_designs : bool
        Outcomes observed on the same rows (survival and the three logistic ones) share most
        columns of their design matrices: with ``True`` their linear predictors are one product
        of the distinct columns with a coefficient matrix, so the shared columns are read once
        per evaluation, not once per outcome (and the same for the gradient). ``False``: one
        matrix-vector product per outcome, as PyMC's graph computes them.
    """

    def __init__(self, design: Mapping[str, Any], merge_designs: bool = True) -> None:
        d = design
        self.k, self.c, self.t = int(d["K"]), int(d["C"]), int(d["T"])
        k, c, t = self.k, self.c, self.t
        self.j, self.kd = int(d["J"]), int(d["Kd"])
        self.p = {tag: int(d[f"P_{tag}"]) for tag in TAGS}
        self.l_s = int(d["L_s"])

        self.layout: list[tuple[str, tuple[int, ...]]] = []
        for name in OUTCOMES:
            self.layout += [
                (f"{name}_sd_county_log__", ()),
                (f"{name}_z_county_zerosum__", (c - 1,)),
            ]
        self.layout += [
            ("township_chol_cholesky-cov-packed__", (k * (k + 1) // 2,)),
            ("township_z_zerosum__", (k, t - 1)),
            ("survival_beta", (self.p["s"],)),
            ("survival_beta_late", (self.l_s,)),
            ("survival_log_hazard_start_centred", ()),
            ("survival_log_hazard_steps", (self.j - 1,)),
            ("demand_fit_beta", (self.p["d"],)),
            ("demand_fit_cutpoints_centred_ordered__", (self.kd - 1,)),
        ]
        for name, tag in LOGISTIC.items():
            self.layout += [(f"{name}_beta", (self.p[tag],)), (f"{name}_intercept_centred", ())]
        self.slices: dict[str, slice] = {}
        start = 0
        for name, shape in self.layout:
            size = int(np.prod(shape, dtype=int))
            self.slices[name] = slice(start, start + size)
            start += size
        self.size = start

        # Rows of every outcome stacked in OUTCOMES order; a row's group effect sits at
        # position * C + county (resp. position * T + township) of the raveled (K, C) / (K, T)
        # effect matrices.
        self.rows: dict[str, slice] = {}
        county_index, township_index = [], []
        start = 0
        for tag in STACK:
            position = TAGS.index(tag)
            n = int(d[f"N_{tag}"])
            self.rows[tag] = slice(start, start + n)
            start += n
            county_index.append(position * c + np.asarray(d[f"county_{tag}"], dtype=np.intp) - 1)
            township_index.append(
                position * t + np.asarray(d[f"township_{tag}"], dtype=np.intp) - 1
            )
        self.n_rows = start
        self.county_index = np.concatenate(county_index)
        self.township_index = np.concatenate(township_index)
        self.x = {tag: np.ascontiguousarray(d[f"X_{tag}"], dtype=float) for tag in TAGS}
        self.merged: tuple[str, ...] = ()
        if merge_designs:
            self._merge_designs(d)
        self.separate = tuple(tag for tag in STACK if tag not in self.merged)
        self.eta = np.empty(self.n_rows)
        self.d_eta = np.empty(self.n_rows)
        self.gathered = np.empty(self.n_rows)
        # The three logistic outcomes are consecutive in the stack: one pass of the ufuncs.
        self.logistic_rows = slice(self.rows["e"].start, self.rows["h"].stop)
        self.logistic_y = np.concatenate([np.asarray(d[f"y_{tag}"], float) for tag in "exh"])

        self.event = np.asarray(d["event_s"], dtype=float)
        self.events_per_interval = np.bincount(
            np.asarray(d["interval_s"]) - 1, weights=self.event, minlength=self.j
        )
        self.exposure_early = np.ascontiguousarray(d["exposure_early"], dtype=float)
        self.exposure_late = np.ascontiguousarray(d["exposure_late"], dtype=float)
        self.late_design = np.ascontiguousarray(d["late_design"], dtype=float)
        self.late_end = np.asarray(d["late_end"], dtype=float)
        self.event_late = self.event * self.late_end

        codes = np.asarray(d["y_d"], dtype=np.intp) - 1
        self.ordinal_lower = codes  # index of the lower cut point in [-inf, cuts..., inf]
        self.ordinal_upper = codes + 1
        # Interior categories' likelihood has a factor 1 - exp(-(c_y - c_{y-1})) that depends on
        # the cut points alone: it enters once per category, weighted by the category's count.
        self.interior_counts = np.bincount(codes, minlength=self.kd)[1:-1].astype(float)

        # Coefficient priors are autoscaled per design column (common.export_design).
        self.beta_prior = {
            tag: (np.asarray(d[f"beta_{tag}_mu"], float), np.asarray(d[f"beta_{tag}_sigma"], float))
            for tag in ("s", "late", "d", *LOGISTIC.values())
        }
        self.intercept_mu, self.intercept_sigma = (
            float(d["intercept_mu"]),
            float(d["intercept_sigma"]),
        )
        self.cut_dirichlet = bool(d["cut_dirichlet"])
        self.cut_alpha = float(d["cut_alpha"])
        self.cut_mu, self.cut_sigma = float(d["cut_mu"]), float(d["cut_sigma"])
        self.lh_mu, self.lh_sigma = float(d["lh_mu"]), float(d["lh_sigma"])
        self.step_mu, self.step_sigma = float(d["step_mu"]), float(d["step_sigma"])
        self.sd_county_sigma = float(d["sd_county_sigma"])
        self.sd_township_sigma = float(d["sd_township_sigma"])
        eta = float(d["lkj_eta"])

        self.tril = np.tril_indices(k)
        self.packed_diagonal = np.flatnonzero(self.tril[0] == self.tril[1])
        # PyMC's LKJCholeskyCov density of the Cholesky factor L (rows' squared norms r_i, log
        # diagonal l_i): sum_i -r_i / (2 s^2) - (a_i + i) / 2 log r_i + (a_i + 1) l_i with
        # a_i = 2 eta - 2 + K - i, the last + 1 being the log-diagonal transform's Jacobian.
        index = np.arange(k)
        self.lkj_log_diag = 2 * eta - 2 + k - index + 1
        self.lkj_log_norm = (2 * eta - 2 + k) / 2

    def _merge_designs(self, d: Mapping[str, Any]) -> None:
        """The leading outcomes of :data:`STACK` observed on survival's rows: their distinct
        design columns (``merged_columns``, ``(q, N)``) and where each outcome's columns sit."""
        n = int(d["N_s"])
        merged = []
        for tag in STACK:
            same_rows = (
                int(d[f"N_{tag}"]) == n
                and np.array_equal(d[f"county_{tag}"], d["county_s"])
                and np.array_equal(d[f"township_{tag}"], d["township_s"])
            )
            if not same_rows:
                break
            merged.append(tag)
        if len(merged) < 2:
            return
        columns = np.concatenate([self.x[tag].T for tag in merged])
        distinct, where = np.unique(columns, axis=0, return_inverse=True)
        self.merged = tuple(merged)
        self.merged_columns = np.ascontiguousarray(distinct)
        self.merged_rows = slice(0, len(merged) * n)
        offsets = np.cumsum([0] + [self.p[tag] for tag in merged])
        self.merged_where = {
            tag: where.ravel()[offsets[i] : offsets[i + 1]] for i, tag in enumerate(merged)
        }
        self.merged_n = n

    # -----------------------------------------------------------------------------------------
    # Coordinates

    def flatten(self, values: Mapping[str, Any]) -> np.ndarray:
        """PyMC's unconstrained values (or gradients) by value-variable name -> flat vector."""
        flat = np.empty(self.size)
        for name, _ in self.layout:
            flat[self.slices[name]] = np.reshape(np.asarray(values[name], dtype=float), -1)
        return flat

    def unflatten(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        return {name: flat[self.slices[name]].reshape(shape) for name, shape in self.layout}

    # -----------------------------------------------------------------------------------------
    # The density

    def _cutpoint_prior(self, cuts: np.ndarray) -> tuple[float, np.ndarray]:
        """The cut points' prior (``common.export_design``): log density and its gradient."""
        if self.cut_dirichlet:
            return _induced_dirichlet(cuts, self.cut_alpha)
        return (
            _normal_logp(cuts, self.cut_mu, self.cut_sigma),
            -_normal_score(cuts, self.cut_mu, self.cut_sigma),
        )

    def logp_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density (up to a constant) and its gradient at the flat unconstrained point."""
        s = self.slices
        k, c, t = self.k, self.c, self.t
        grad = np.empty(self.size)
        logp = 0.0

        # County effects: CE[o] = sd_o * zerosum(u_o).
        log_sd = np.array([theta[s[f"{name}_sd_county_log__"]][0] for name in OUTCOMES])
        county_free = np.stack([theta[s[f"{name}_z_county_zerosum__"]] for name in OUTCOMES])
        sd_county = np.exp(log_sd)
        county_z = _zerosum_extend(county_free)
        county_effect = sd_county[:, None] * county_z
        logp += -0.5 * np.dot(sd_county, sd_county) / self.sd_county_sigma**2 + log_sd.sum()
        logp += -0.5 * np.vdot(county_free, county_free)

        # Township effects: TE = L zerosum(W), L the covariance's Cholesky factor.
        packed = theta[s["township_chol_cholesky-cov-packed__"]]
        chol_values = packed.copy()
        chol_values[self.packed_diagonal] = np.exp(packed[self.packed_diagonal])
        chol = np.zeros((k, k))
        chol[self.tril] = chol_values
        township_free = theta[s["township_z_zerosum__"]].reshape(k, t - 1)
        township_z = _zerosum_extend(township_free)
        township_effect = chol @ township_z
        row_norms = np.einsum("ij,ij->i", chol, chol)
        logp += (
            -0.5 * row_norms.sum() / self.sd_township_sigma**2
            - self.lkj_log_norm * np.log(row_norms).sum()
            + np.dot(self.lkj_log_diag, packed[self.packed_diagonal])
        )
        logp += -0.5 * np.vdot(township_free, township_free)

        # Every outcome's linear predictor, stacked.
        betas = {
            "s": theta[s["survival_beta"]],
            "d": theta[s["demand_fit_beta"]],
        }
        for name, tag in LOGISTIC.items():
            betas[tag] = theta[s[f"{name}_beta"]]
        eta, d_eta, gathered = self.eta, self.d_eta, self.gathered
        if self.merged:
            coefficients = np.zeros((len(self.merged), len(self.merged_columns)))
            for i, tag in enumerate(self.merged):
                coefficients[i, self.merged_where[tag]] = betas[tag]
            np.matmul(
                coefficients,
                self.merged_columns,
                out=eta[self.merged_rows].reshape(len(self.merged), self.merged_n),
            )
        for tag in self.separate:
            np.matmul(self.x[tag], betas[tag], out=eta[self.rows[tag]])
        county_effect.ravel().take(self.county_index, out=gathered)
        eta += gathered
        township_effect.ravel().take(self.township_index, out=gathered)
        eta += gathered
        for name, tag in LOGISTIC.items():
            eta[self.rows[tag]] += theta[s[f"{name}_intercept_centred"]][0]

        # Survival: log h = log h0[interval] + eta (+ late eta after the onset);
        # H = exp(eta) (H0 before the onset + exp(late eta) H0 after it).
        lh_start = theta[s["survival_log_hazard_start_centred"]][0]
        lh_steps = theta[s["survival_log_hazard_steps"]]
        log_hazard = lh_start + np.concatenate([[0.0], np.cumsum(lh_steps)])
        rate = np.exp(log_hazard)
        beta_late = theta[s["survival_beta_late"]]
        eta_s = eta[self.rows["s"]]
        late_eta = self.late_design @ beta_late
        exp_eta = np.exp(eta_s)
        exp_late = np.exp(late_eta)
        hazard_late = self.exposure_late @ rate
        exp_eta_late = exp_eta * exp_late
        cumulative = exp_eta * (self.exposure_early @ rate) + exp_eta_late * hazard_late
        logp += (
            np.dot(self.events_per_interval, log_hazard)
            + np.dot(self.event, eta_s)
            + np.dot(self.event_late, late_eta)
            - cumulative.sum()
        )
        np.subtract(self.event, cumulative, out=d_eta[self.rows["s"]])
        d_late_eta = self.event_late - exp_eta_late * hazard_late
        d_rate = -(exp_eta @ self.exposure_early + exp_eta_late @ self.exposure_late)
        d_log_hazard = self.events_per_interval + rate * d_rate
        grad[s["survival_beta_late"]] = self.late_design.T @ d_late_eta - _normal_score(
            beta_late, *self.beta_prior["late"]
        )
        logp += _normal_logp(beta_late, *self.beta_prior["late"])
        logp += _normal_logp(lh_start, self.lh_mu, self.lh_sigma)
        logp += _normal_logp(lh_steps, self.step_mu, self.step_sigma)
        grad[s["survival_log_hazard_start_centred"]] = d_log_hazard.sum() - _normal_score(
            lh_start, self.lh_mu, self.lh_sigma
        )
        grad[s["survival_log_hazard_steps"]] = np.cumsum(d_log_hazard[:0:-1])[::-1] - (
            _normal_score(lh_steps, self.step_mu, self.step_sigma)
        )

        # Demand fit: p(y) = sigmoid(eta - c_{y-1}) - sigmoid(eta - c_y), c_{-1} = -inf,
        # c_{Kd-1} = inf; for interior y that is
        # sigmoid(eta - c_{y-1}) sigmoid(c_y - eta) (1 - exp(-(c_y - c_{y-1}))).
        cut_free = theta[s["demand_fit_cutpoints_centred_ordered__"]]
        gaps = np.exp(cut_free[1:])
        cuts = np.cumsum(np.concatenate([cut_free[:1], gaps]))
        bounds = np.concatenate([[-np.inf], cuts, [np.inf]])
        eta_d = eta[self.rows["d"]]
        below_lower = bounds.take(self.ordinal_lower) - eta_d
        above_upper = eta_d - bounds.take(self.ordinal_upper)
        softplus_lower, lower_weight = _softplus_and_sigmoid(below_lower)
        softplus_upper, upper_weight = _softplus_and_sigmoid(above_upper)
        logp -= softplus_lower.sum() + softplus_upper.sum()
        logp += np.dot(self.interior_counts, np.log(-np.expm1(-gaps)))
        np.subtract(lower_weight, upper_weight, out=d_eta[self.rows["d"]])
        d_bounds = np.bincount(
            self.ordinal_upper, weights=upper_weight, minlength=self.kd + 1
        ) - np.bincount(self.ordinal_lower, weights=lower_weight, minlength=self.kd + 1)
        cut_logp, d_cut_prior = self._cutpoint_prior(cuts)
        logp += cut_logp
        d_cuts = d_bounds[1:-1] + d_cut_prior
        d_gaps = self.interior_counts / np.expm1(gaps)
        # cuts = cumsum([y_0, exp(y_1), ...]): the adjoint of a cumulative sum is a reversed one.
        d_increments = np.cumsum(d_cuts[::-1])[::-1]
        d_increments[1:] += d_gaps
        d_cut_free = d_increments
        d_cut_free[1:] = d_increments[1:] * gaps + 1.0  # + 1: the log-gap Jacobian
        logp += cut_free[1:].sum()
        grad[s["demand_fit_cutpoints_centred_ordered__"]] = d_cut_free

        # The three logistic outcomes: y eta - log(1 + exp(eta)).
        eta_l = eta[self.logistic_rows]
        softplus, probability = _softplus_and_sigmoid(eta_l)
        logp += np.dot(self.logistic_y, eta_l) - softplus.sum()
        np.subtract(self.logistic_y, probability, out=d_eta[self.logistic_rows])

        # Back to the coefficients and the group effects.
        if self.merged:
            d_coefficients = (
                d_eta[self.merged_rows].reshape(len(self.merged), self.merged_n)
                @ self.merged_columns.T
            )
        for name, tag in (("survival", "s"), ("demand_fit", "d"), *LOGISTIC.items()):
            beta = betas[tag]
            if tag in self.merged:
                row = d_coefficients[self.merged.index(tag)]
                d_beta = row[self.merged_where[tag]]
            else:
                d_beta = d_eta[self.rows[tag]] @ self.x[tag]
            grad[s[f"{name}_beta"]] = d_beta - _normal_score(beta, *self.beta_prior[tag])
            logp += _normal_logp(beta, *self.beta_prior[tag])
        for name, tag in LOGISTIC.items():
            intercept = theta[s[f"{name}_intercept_centred"]][0]
            grad[s[f"{name}_intercept_centred"]] = d_eta[self.rows[tag]].sum() - _normal_score(
                intercept, self.intercept_mu, self.intercept_sigma
            )
            logp += _normal_logp(intercept, self.intercept_mu, self.intercept_sigma)

        d_county_effect = np.bincount(self.county_index, weights=d_eta, minlength=k * c)
        d_county_effect = d_county_effect.reshape(k, c)
        d_township_effect = np.bincount(self.township_index, weights=d_eta, minlength=k * t)
        d_township_effect = d_township_effect.reshape(k, t)

        d_sd = np.einsum("ij,ij->i", d_county_effect, county_z)
        d_log_sd = sd_county * d_sd - sd_county**2 / self.sd_county_sigma**2 + 1.0
        d_county_free = _zerosum_adjoint(sd_county[:, None] * d_county_effect) - county_free
        for position, name in enumerate(OUTCOMES):
            grad[s[f"{name}_sd_county_log__"]] = d_log_sd[position]
            grad[s[f"{name}_z_county_zerosum__"]] = d_county_free[position]

        d_chol = d_township_effect @ township_z.T
        d_chol -= (1.0 / self.sd_township_sigma**2 + 2 * self.lkj_log_norm / row_norms)[
            :, None
        ] * chol
        d_packed = d_chol[self.tril]
        d_packed[self.packed_diagonal] *= chol_values[self.packed_diagonal]
        d_packed[self.packed_diagonal] += self.lkj_log_diag
        grad[s["township_chol_cholesky-cov-packed__"]] = d_packed
        d_township_free = _zerosum_adjoint(chol.T @ d_township_effect) - township_free
        grad[s["township_z_zerosum__"]] = d_township_free.ravel()
        return float(logp), grad


def _induced_dirichlet(cuts: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Log density (up to a constant) and gradient of the induced Dirichlet prior of ordered
    cut points: ``(alpha - 1) sum log p + sum log(q (1 - q))`` with ``q = sigmoid(c)`` and
    ``p = diff([0, q, 1])``."""
    q = 1.0 / (1.0 + np.exp(-cuts))
    p = np.diff(np.concatenate([[0.0], q, [1.0]]))
    log_q, log_1mq = -np.logaddexp(0.0, -cuts), -np.logaddexp(0.0, cuts)
    logp = (alpha - 1.0) * float(np.log(p).sum()) + float((log_q + log_1mq).sum())
    # q_j enters p_j with + and p_{j+1} with -; d q_j / d c_j = q_j (1 - q_j).
    d_q = (alpha - 1.0) * (1.0 / p[:-1] - 1.0 / p[1:])
    return logp, d_q * q * (1.0 - q) + (1.0 - 2.0 * q)


def _normal_logp(x, mu, sigma) -> float:
    z = (np.asarray(x) - mu) / sigma
    return -0.5 * float(np.vdot(z, z))


def _normal_score(x, mu, sigma):
    """Minus the gradient of :func:`_normal_logp`."""
    return (x - mu) / sigma**2


def _softplus_and_sigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(1 + exp(x))`` and ``1 / (1 + exp(-x))`` from one ``exp(-|x|)``, stable for any
    ``x`` (``x = inf`` gives ``(inf, 1)``, ``x = -inf`` gives ``(0, 0)``)."""
    small = np.exp(-np.abs(x))
    softplus = np.maximum(x, 0.0)
    softplus += np.log1p(small)
    sigmoid = np.where(x >= 0, 1.0, small)
    sigmoid /= 1.0 + small
    return softplus, sigmoid


def _zerosum_extend(free: np.ndarray) -> np.ndarray:
    """PyMC's ``ZeroSumTransform.backward`` over the last axis: ``(m, n-1) -> (m, n)``."""
    n = free.shape[-1] + 1
    total = free.sum(axis=-1, keepdims=True)
    shift = total / (np.sqrt(n) + n)
    out = np.empty((free.shape[0], n))
    np.subtract(free, shift, out=out[:, :-1])
    out[:, -1:] = -total / np.sqrt(n)
    return out


def _zerosum_adjoint(d_out: np.ndarray) -> np.ndarray:
    """Gradient with respect to the free values, given the gradient of :func:`_zerosum_extend`'s
    output: ``x_i = u_i - sum(u) / (sqrt(n) + n)`` (``i < n - 1``), ``x_last = -sum(u) / sqrt(n)``.
    """
    n = d_out.shape[-1]
    head = d_out[:, :-1]
    shared = head.sum(axis=-1, keepdims=True) / (np.sqrt(n) + n) + d_out[:, -1:] / np.sqrt(n)
    return head - shared
