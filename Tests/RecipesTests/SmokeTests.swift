import Recipes
import Testing
