"""Health of a converged warehouse from its monitoring views (`status`)."""
