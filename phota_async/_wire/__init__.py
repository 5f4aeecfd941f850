"""_wire: see phota_async/__init__.py for the layers."""
