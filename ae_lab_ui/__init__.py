"""Streamlit helpers shared by the pages of Autoencoder Lab.

``ae_core`` never imports streamlit; this package is the UI side. The pure modules
(``form``, ``figures``, ``explore_figures``, ``compare``, ``history``) import no
streamlit either, so they can be unit-tested directly; ``services``, ``controls``,
``views`` and ``watched`` render or keep session state.
"""
