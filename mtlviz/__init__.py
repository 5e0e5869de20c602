"""mtlviz: see how optimizers behave on multi-task learning."""

__version__ = "0.1.0"
