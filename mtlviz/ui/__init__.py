"""Streamlit widgets and pages. Only this package (and app.py) imports streamlit."""

from mtlviz.ui.page import main

__all__ = ["main"]
