
6
xPlaceholder*
dtype0*
shape:
2
iPlaceholder*
dtype0*
shape
:
$

LogSoftmax
LogSoftmaxx*
T0
$
outIdentity
LogSoftmax*
T0

initNoOp

init_1NoOp"ª