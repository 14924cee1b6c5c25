"""hwsim: deploy neural networks onto int8 accelerators before the silicon is at hand."""
__version__ = "0.1.0"


def deploy(*args, **kwargs):
    """``hwsim.deployment.deploy(...).report``: the ``DeployReport`` of a deployment.

    Imported lazily so ``import hwsim`` stays cheap; the module is ``hwsim.deployment`` (not
    ``hwsim.deploy``) so that importing it never replaces this function on the package.
    """
    from hwsim.deployment import deploy as _deploy

    return _deploy(*args, **kwargs).report
