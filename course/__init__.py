"""Helpers the course notebooks import: devices, visible-test checks, plots and widgets.

Student notebooks use only this package and the libraries in requirements.txt.
"""

__version__ = "0.1.0"
