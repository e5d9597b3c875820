"""Usage reporting: batches to the control plane, spooled on disk until acked."""
