"""Rules both planes must agree on: pure, no I/O (the one exception, `files`, is the
durable private-file writer both planes use for state). The control plane validates admin
writes with the very compiler the data plane runs (`oggy.contract.compile`)."""
