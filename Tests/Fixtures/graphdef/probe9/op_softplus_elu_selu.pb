
6
xPlaceholder*
dtype0*
shape:
2
iPlaceholder*
dtype0*
shape
:
 
SoftplusSoftplusx*
T0

EluElux*
T0
$
addAddV2SoftplusElu*
T0

SeluSelux*
T0
"
add_1AddV2addSelu*
T0

outIdentityadd_1*
T0

initNoOp

init_1NoOp"ª