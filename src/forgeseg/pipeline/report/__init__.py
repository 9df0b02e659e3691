"""The evidence report: a self-contained HTML page an analyst can act on.

Figures called forged come first, most suspicious first; each detected instance shows the
figure with both sides of every copy-move outlined and the matched points joined, the
source and copy crops side by side with the transform undone, the transform in words
("copy flipped left-right, scaled 1.12") and the scores behind the decision. Figures
called authentic are listed with their strongest rejected candidate and the check that
rejected it.

Modules: :mod:`~forgeseg.pipeline.report.collect` (the evidence of one figure:
:func:`~forgeseg.pipeline.report.collect.examine`), :mod:`~forgeseg.pipeline.report.sides`
(both sides of a copy-move), :mod:`~forgeseg.pipeline.report.words` (transforms and
rejections in words), :mod:`~forgeseg.pipeline.report.draw` (thumbnails, outlines, crops,
JPEG within a byte budget), :mod:`~forgeseg.pipeline.report.page` (the HTML),
:mod:`~forgeseg.pipeline.report.build` (figures in, page out),
:mod:`~forgeseg.pipeline.report.split` (the ``report`` stage),
:mod:`~forgeseg.pipeline.report.folder` (``forgeseg report --images DIR``) and
:mod:`~forgeseg.pipeline.report.browser` (the page checked in headless Chromium).
"""
