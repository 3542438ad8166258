import os

# Figures are drawn off-screen in tests, whatever the machine has.
os.environ.setdefault("MPLBACKEND", "Agg")
