"""Read queries of the dashboard's pages, over each butler's own pool (one concept a module)."""
