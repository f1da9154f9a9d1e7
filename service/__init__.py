"""ftmatrix: which fine-tuning technique fits which job, and which combinations work."""

__version__ = "0.1.0"
