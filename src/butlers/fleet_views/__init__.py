"""Read queries the dashboard and `butlerctl` share: typed records over the butlers' databases, one concept a module."""
