import Training
import Testing
