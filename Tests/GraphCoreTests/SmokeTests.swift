import GraphCore
import Testing
