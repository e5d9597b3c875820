"""AdminService RPCs, one module per resource; `controlplane.api.admin_servicer` composes them."""
