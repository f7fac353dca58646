"""HTTP routes: parse, call the domain, answer."""
