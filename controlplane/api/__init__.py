"""gRPC servicers, the proto⇄storage mapping (convert) and the error→status mapper (status)."""
