"""Validate the bundled synthetic study (or the data given as the first argument) and write
Table 1 to reports/tables/."""

import sys

from grassroots.cli import app

if __name__ == "__main__":
    app(["describe", *sys.argv[1:]])
