"""sci-lightning: train image classifiers and report their measured energy, carbon and SCI."""

__version__ = "0.1.0"
