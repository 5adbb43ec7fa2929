
6
xPlaceholder*
dtype0*
shape:
2
iPlaceholder*
dtype0*
shape
:
1
stackPackxx*
N*
T0*

axis

outIdentitystack*
T0

initNoOp

init_1NoOp"ª