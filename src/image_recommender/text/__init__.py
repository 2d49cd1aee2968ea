"""Text in pictures: recognition (rapidocr's PP-OCR models) and the pass that fills the catalog's word index."""
