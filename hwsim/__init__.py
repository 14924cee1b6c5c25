"""hwsim: deploy neural networks onto int8 accelerators before the silicon is at hand."""
__version__ = "0.1.0"


def deploy(*args, **kwargs):
    """See ``hwsim.deploy.deploy``; imported lazily so ``import hwsim`` stays cheap."""
    from hwsim.deploy import deploy as _deploy

    return _deploy(*args, **kwargs).report
