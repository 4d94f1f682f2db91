"""HTTP sink (skeleton: the delivery is being built under issue 4; no scheme is registered yet)."""
