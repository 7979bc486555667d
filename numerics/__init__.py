"""GD experiments, rate fitting, plots and sweeps: the audit job (``verify audit``)."""

__all__: list[str] = []
