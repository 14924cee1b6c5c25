"""User-facing errors. The CLI turns any ``UserError`` into one line on stderr and exit code 2."""


class UserError(Exception):
    """A mistake in something the user gave us (a file, a field, a model); the message says what to do."""


class ModelError(UserError):
    """The ONNX model cannot be imported as given."""


class UnsupportedOpError(ModelError):
    """A node's op type has no kernel."""


class DataError(UserError):
    """Input or calibration data does not fit the model."""


class ConfigError(UserError):
    """A quantization config or constraint is invalid."""
