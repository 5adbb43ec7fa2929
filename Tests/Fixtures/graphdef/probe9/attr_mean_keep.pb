
6
xPlaceholder*
dtype0*
shape:
2
iPlaceholder*
dtype0*
shape
:
D
Mean/reduction_indicesConst*
dtype0*
valueB:
M
MeanMeanxMean/reduction_indices*

Tidx0*
T0*
	keep_dims(

outIdentityMean*
T0

initNoOp

init_1NoOp"ª