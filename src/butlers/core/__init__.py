"""The core every butler has: state store, scheduler, session log, spawner."""
