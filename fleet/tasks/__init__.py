"""What commands do on each robot: plan from facts (pure), then execute (I/O)."""
