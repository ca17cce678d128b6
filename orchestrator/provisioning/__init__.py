"""Per-tenant engine configuration: render from templates, validate, apply, roll back."""
