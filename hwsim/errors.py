"""hwsim's user-facing errors extend quant's, so the CLI catches one base class."""
from quant.errors import UserError


class HwsimError(UserError):
    """A user mistake found by hwsim (target, program, report directory)."""


class TargetError(HwsimError):
    """A target file is malformed, inconsistent, or cannot be found."""


class ReportError(HwsimError):
    """A report cannot be written where asked."""
