"""Exceptions raised for bad input; each names the file, line or node and what was expected."""


class LeadingError(Exception):
    """Base class of the errors this package raises on purpose."""


class DataError(LeadingError, ValueError):
    """A graph, file or split is malformed."""


class ModelError(LeadingError, ValueError):
    """A language model cannot be found or loaded."""


class ConfigError(LeadingError, ValueError):
    """A configuration key or value is invalid."""


class NumericalError(LeadingError, FloatingPointError):
    """Training produced a non-finite loss or gradient."""


class DistributedError(LeadingError, RuntimeError):
    """A collective of several processes failed: a process died, hung or lost the network."""
