
6
xPlaceholder*
dtype0*
shape:
2
iPlaceholder*
dtype0*
shape
:
2
	LeakyRelu	LeakyRelux*
T0*
alpha%млл=
#
outIdentity	LeakyRelu*
T0

initNoOp

init_1NoOp"╙