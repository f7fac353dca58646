"""Socket.IO namespaces: parse and validate events, call the domain, acknowledge."""
