"""bdlearn's shipped files, installed as the package ``bdlearn.data``: the toy world's weights and their
cards, the toy CLIP's open_clip config, and the demonstration photos.

They live at the top of the project (``data/``, as its layout has it); pyproject.toml maps this folder
to ``bdlearn.data``, so a wheel carries it inside the package and an editable install reads it here, in
place. Code finds the files through :mod:`bdlearn.worlds.package_data`.
"""
