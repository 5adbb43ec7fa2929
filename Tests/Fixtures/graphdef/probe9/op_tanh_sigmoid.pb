
6
xPlaceholder*
dtype0*
shape:
2
iPlaceholder*
dtype0*
shape
:

TanhTanhx*
T0

SigmoidSigmoidx*
T0
"
mulMulTanhSigmoid*
T0

outIdentitymul*
T0

initNoOp

init_1NoOp"ª