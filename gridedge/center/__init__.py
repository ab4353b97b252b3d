"""The grid centre: subscribes to its jurisdiction's grid events, keeps them as cases, serves the officers."""
