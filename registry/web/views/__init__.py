"""One module per page group; each view is wrapped by `registry.web.access.tenant_page`."""
