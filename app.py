"""mtlviz dashboard: `streamlit run app.py`."""

from mtlviz.ui import main

main()
