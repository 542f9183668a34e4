/*!40101 SET NAMES binary*/;
CREATE TABLE `big_customers`(
`id` int,
`name` int,
`balance` int
)ENGINE=MyISAM;
