"""Models: which one (``spec``), the recommended table (``recommended``), torch and open_clip
(``torch_model``), the OpenVINO conversion and its cache (``openvino_engine``) and indexing from
that cache without torch (``cached_engine``). Importing this package imports no torch: only
``torch_model`` does, and it is imported where a model must really run."""
