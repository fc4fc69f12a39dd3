"""fleet's pull-through cache: the Distribution registry in proxy mode on this machine,
which robots reach over their SSH connection (`--via cache`)."""
