import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

@Suite struct TabularDataTests {
    @Test func csvWithHeaderAndCRLF() throws {
        let text = "a, b ,c\r\n1,2.5,-3e2\r\n\r\n 4 ,5,6\r\n"
        let m = try TabularFeatures.parseCSV(Data(text.utf8), file: "f.csv")
        #expect(m.columnNames == ["a", "b", "c"])
        #expect(m.values.shape == [2, 3])
        #expect(m.values.scalars == [1, 2.5, -300, 4, 5, 6])
    }

    @Test func csvWithoutHeaderGetsGeneratedNames() throws {
        let m = try TabularFeatures.parseCSV(Data("1,2\n3,4".utf8), file: "f.csv")
        #expect(m.columnNames == ["x1", "x2"] && m.values.scalars == [1, 2, 3, 4])
        let forced = try TabularFeatures.parseCSV(Data("1,2\n3,4".utf8), file: "f.csv", header: .present)
        #expect(forced.columnNames == ["1", "2"] && forced.values.shape == [1, 2])
    }

    @Test func readsFromDiskAndRejectsOtherExtensions() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let u = try folder.write("x.csv", Array("p,q\n0.25,1\n".utf8))
        #expect(try TabularFeatures.read(contentsOf: u).values.scalars == [0.25, 1])
        let other = try folder.write("x.parquet", [1, 2, 3])
        #expect(throws: TabularDataError.unsupportedFormat(file: other.path, extension: "parquet", supported: ["csv", "txt", "npy"])) {
            try TabularFeatures.read(contentsOf: other)
        }
        // NPY matrices go through the NPY reader.
        let npy = try folder.write("m.npy", Array(NPY.encode(Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4]), dtype: .float64)))
        let m = try TabularFeatures.read(contentsOf: npy)
        #expect(m.values.shape == [2, 2] && m.values.scalars == [1, 2, 3, 4] && m.columnNames == ["x1", "x2"])
        // A NaN in an NPY matrix is named by row and column, both counted from 1.
        let bad = try folder.write("nan.npy", Array(NPY.encode(Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, .nan]), dtype: .float64)))
        #expect(throws: TabularDataError.nonFiniteElement(file: bad.path, row: 2, column: 3, text: "nan")) {
            try TabularFeatures.read(contentsOf: bad)
        }
        #expect(TabularDataError.nonFiniteElement(file: "f.npy", row: 2, column: 3, text: "nan").description
                == "f.npy: row 2, column 3 (counting from 1) is nan, expected a finite number")
    }
}
