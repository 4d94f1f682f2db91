"""Server stores: one interface (base.Store), chosen by the URL scheme of ``--store``."""
