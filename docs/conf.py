"""Sphinx configuration of the pyramid_livehub docs (``make docs``)."""
import os
import sys
import warnings

# Pyramid imports pkg_resources, which warns on import; autodoc imports Pyramid.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '_ext'))          # livehub_settings
sys.path.insert(0, os.path.dirname(HERE))               # the package, from this checkout

project = 'pyramid_livehub'
author = 'pyramid_livehub contributors'
copyright = '2026, ' + author

extensions = [
    'sphinx.ext.autodoc',
    'myst_parser',          # CHANGES.md is Markdown
    'livehub_settings',     # the settings reference, from pyramid_livehub.settings
]

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build']
html_theme = 'furo'
html_title = 'pyramid_livehub'
html_static_path = []

autodoc_member_order = 'bysource'
