module pingpong

go 1.17
