"""天罗地网 event hub: correlates public-safety event streams into routed incidents."""

__version__ = "0.1.0"
